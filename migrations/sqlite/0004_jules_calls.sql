-- Calls spent from a Jules request budget in the last window (`activities.list` has a
-- per-project quota): one row a call, so every replica sharing this database sees the same
-- rolling count. `budget` names the API key by a hash, never the key itself.
CREATE TABLE jules_calls (
    budget TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX jules_calls_window ON jules_calls (budget, at);
