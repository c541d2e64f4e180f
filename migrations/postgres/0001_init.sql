-- jules-bridge webhook server state (PostgreSQL).
-- Timestamps are written by the application clock (bound as parameters), not now().

-- The work queue: every verified delivery, unique on (hook id, delivery GUID).
CREATE TABLE deliveries (
    id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hook_id         TEXT        NOT NULL,
    delivery_id     TEXT        NOT NULL,
    event           TEXT        NOT NULL,
    action          TEXT,
    installation_id BIGINT,
    repo            TEXT,
    issue_key       TEXT,
    body            BYTEA       NOT NULL,
    status          TEXT        NOT NULL
        CHECK (status IN ('pending', 'processing', 'done', 'ignored', 'dead', 'dropped')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    last_error      TEXT,
    note            TEXT,
    -- The worker holding the lease and when it runs out (set while processing).
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    received_at     TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
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
    seq                BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               TEXT        NOT NULL UNIQUE,
    repo               TEXT        NOT NULL,
    issue              BIGINT      NOT NULL,
    installation_id    BIGINT,
    status_comment_id  BIGINT,
    requester          TEXT,
    state              TEXT        NOT NULL,
    update_time        TIMESTAMPTZ,
    last_activity_time TIMESTAMPTZ,
    active             BOOLEAN     NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    checked_at         TIMESTAMPTZ
);

CREATE INDEX sessions_issue ON sessions (repo, issue, created_at);
CREATE INDEX sessions_repo_created ON sessions (repo, created_at);
CREATE INDEX sessions_active ON sessions (created_at) WHERE active;
CREATE INDEX sessions_installation ON sessions (installation_id)
    WHERE installation_id IS NOT NULL;

-- What was relayed, so nothing is posted twice.
CREATE TABLE relayed (
    session     TEXT        NOT NULL,
    activity_id TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    relayed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session, activity_id)
);

-- Session requests waiting for a repository's limits.
CREATE TABLE queued_requests (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repo        TEXT        NOT NULL,
    issue       BIGINT      NOT NULL,
    delivery_id BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX queued_requests_repo ON queued_requests (repo, id);

-- Named leases (for example the relay's).
CREATE TABLE leases (
    key        TEXT        PRIMARY KEY,
    owner      TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
