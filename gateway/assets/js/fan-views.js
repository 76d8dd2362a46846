// fan-views
