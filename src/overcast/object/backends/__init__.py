"""Where object bytes live: the backend contract (`base`) and its drivers (`file`)."""
