// seats
