"""The active rule set in a worker, the rules topic it follows, and the review schedule."""
