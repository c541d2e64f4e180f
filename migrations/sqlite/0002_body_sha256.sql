-- Replay protection: a signed body resent under a new X-GitHub-Delivery (or X-GitHub-Hook-ID;
-- neither header is covered by the signature) is a duplicate of the delivery that first
-- carried it. `body_sha256` is the lowercase hex SHA-256 of the stored body, written by the
-- application for every new delivery.
--
-- Backfill-safe: rows stored before this migration keep NULL (old rows may hold identical
-- bodies, which a backfill would have to reject), and NULLs never collide in a UNIQUE index.
ALTER TABLE deliveries ADD COLUMN body_sha256 TEXT;

CREATE UNIQUE INDEX deliveries_body_sha256 ON deliveries (body_sha256);
