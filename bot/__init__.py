"""sora-discord-bot: a Discord bot that turns an image and a prompt into a short AI video."""
