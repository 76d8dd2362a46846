-- A finished event can be archived: its queue stays closed for good, it leaves the
-- default admin list, and its holds and orders stay as they are (readable, exportable).
ALTER TABLE events DROP CONSTRAINT events_admin_state_check;
ALTER TABLE events ADD CONSTRAINT events_admin_state_check
    CHECK (admin_state IN ('open', 'paused', 'closed', 'archived'));
