-- The token of the shard's last committed group commit. A transaction started while the
-- one before it is still committing names that one's token and commits only if it finds
-- it here, under the row's lock: never after a predecessor that rolled back, never out
-- of order. Adding a nullable column rewrites nothing.
ALTER TABLE shard_epochs ADD COLUMN last_commit uuid;
