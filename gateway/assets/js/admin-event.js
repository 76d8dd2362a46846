// admin-event
