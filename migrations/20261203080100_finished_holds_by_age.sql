-- no-transaction
-- The retention prune (worker/src/prune.rs) deletes released and expired holds by age.
-- Partial, so live holds (inserted and updated in every group commit) never enter it;
-- built CONCURRENTLY, as the index before it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS holds_finished_idx
    ON holds (updated_at) WHERE state IN ('released', 'expired');
