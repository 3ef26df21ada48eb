"""The test suite; its folders mirror the source tree (``tests/jobs`` tests ``bot/jobs``)."""
