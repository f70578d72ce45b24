"""What every service shares: errors, request context, auth, policy, microversions, paging."""
