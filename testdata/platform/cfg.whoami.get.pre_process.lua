return { content = { user = platform.session.name } }
