"""Pure notification rules: whom to tell, on which channel, and when to keep quiet."""
