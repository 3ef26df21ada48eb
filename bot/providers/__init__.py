"""Video providers: one module per wire protocol behind :class:`bot.providers.base.Provider`."""
