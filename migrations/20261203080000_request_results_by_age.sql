-- no-transaction
-- The retention prune (worker/src/prune.rs) deletes request results by age. Built
-- CONCURRENTLY, outside a transaction (one statement per file: several statements in
-- one query would make an implicit transaction), so a large table keeps taking group
-- commits while the index builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS request_results_created_idx
    ON request_results (created_at);
