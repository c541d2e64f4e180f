-- jules-bridge webhook server state (SQLite).
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC), written by the application
-- clock, so they compare and sort as numbers.

-- The work queue: every verified delivery, unique on (hook id, delivery GUID).
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id         TEXT    NOT NULL,
    delivery_id     TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    action          TEXT,
    installation_id INTEGER,
    repo            TEXT,
    issue_key       TEXT,
    body            BLOB    NOT NULL,
    status          TEXT    NOT NULL
        CHECK (status IN ('pending', 'processing', 'done', 'ignored', 'dead', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    note            TEXT,
    -- The worker holding the lease and when it runs out (set while processing).
    lease_owner     TEXT,
    lease_until     INTEGER,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    UNIQUE (hook_id, delivery_id)
);

-- The claim query: pending by next_attempt_at, processing by lease expiry.
CREATE INDEX deliveries_claim ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_lease ON deliveries (status, lease_until);
-- Issue serialisation: live leases of one issue.
CREATE INDEX deliveries_issue ON deliveries (issue_key, status, lease_until)
    WHERE issue_key IS NOT NULL;
-- Lookups by GUID (operators) and by installation (removal).
CREATE INDEX deliveries_guid ON deliveries (delivery_id);
CREATE INDEX deliveries_installation ON deliveries (installation_id, status)
    WHERE installation_id IS NOT NULL;

-- Jules sessions the relay keeps GitHub up to date about.
CREATE TABLE sessions (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL UNIQUE,
    repo               TEXT    NOT NULL,
    issue              INTEGER NOT NULL,
    installation_id    INTEGER,
    status_comment_id  INTEGER,
    requester          TEXT,
    state              TEXT    NOT NULL,
    update_time        INTEGER,
    last_activity_time INTEGER,
    active             INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at         INTEGER NOT NULL,
    checked_at         INTEGER
);

CREATE INDEX sessions_issue ON sessions (repo, issue, created_at);
CREATE INDEX sessions_repo_created ON sessions (repo, created_at);
CREATE INDEX sessions_active ON sessions (active, created_at);
CREATE INDEX sessions_installation ON sessions (installation_id)
    WHERE installation_id IS NOT NULL;

-- What was relayed, so nothing is posted twice.
CREATE TABLE relayed (
    session     TEXT    NOT NULL,
    activity_id TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    relayed_at  INTEGER NOT NULL,
    PRIMARY KEY (session, activity_id)
);

-- Session requests waiting for a repository's limits.
CREATE TABLE queued_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repo        TEXT    NOT NULL,
    issue       INTEGER NOT NULL,
    delivery_id INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX queued_requests_repo ON queued_requests (repo, id);

-- Named leases (for example the relay's).
CREATE TABLE leases (
    key        TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
