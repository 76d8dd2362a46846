// fan
