"""Events: the inbox/unified event rows, their processing jobs, the sweeper and the API."""
