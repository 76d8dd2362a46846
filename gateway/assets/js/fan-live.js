// fan-live
