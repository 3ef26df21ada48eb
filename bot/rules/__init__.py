"""The operator's rules as pure code: limits, costs and prices, the prompt filter."""
