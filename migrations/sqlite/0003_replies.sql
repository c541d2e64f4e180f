-- The replies the bridge posted for a delivery (`kind#n`), recorded before posting so a
-- retried delivery never posts the same reply twice.
CREATE TABLE replies (
    delivery_id INTEGER NOT NULL,
    reply_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, reply_key)
);
