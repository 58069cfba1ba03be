"""The person's pages: login and its steps, first connection, forgotten password,
password change, home page, logout. One blueprint per module, registered by
``idp.create_app``."""
