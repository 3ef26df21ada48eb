"""`/video-admin`'s domain: the server managers' and bot owners' actions."""
