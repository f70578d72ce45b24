"""The web console: server-rendered pages over overcast's own public APIs.

`web.mount(app)` adds it at "/" beside the APIs. It is a client of the APIs with
the user's token (`client.API`), keeps its session in an encrypted cookie
(`session`), draws its charts and topology on the server (`charts`), and keeps one
module per area in `pages/`. It holds no tables and imports no service.
"""
