"""What members see: message text, progress bars, buttons, and the delivery of a job's message.

Nothing here touches the store or a provider.
"""
