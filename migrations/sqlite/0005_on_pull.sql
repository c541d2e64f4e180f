-- Whether a tracked session reports on a pull request (started there): its `Jules` check run
-- on that pull request is kept current by the relay.
ALTER TABLE sessions ADD COLUMN on_pull INTEGER NOT NULL DEFAULT 0;
