// admin-create
