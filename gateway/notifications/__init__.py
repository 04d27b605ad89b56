"""Notifications 消息: an inbox per account, fed by the services' events, and a copy sent as
a WeChat subscribe message where the user accepted that kind."""
