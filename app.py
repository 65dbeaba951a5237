"""Start the chat app: FastAPI (JSON API, widget) with the Gradio chat mounted, on one port.

    python app.py [--host 127.0.0.1] [--port 7860] [--root-path /qa] [--cors-origin http://intranet:8080]

Every flag has a ``REPORT_QA_*`` variable, and more settings have a variable only: ``python app.py --help``
and ``python -m qa config`` list them (declared in qa/config.py). The server itself is qa/serve/server.py.
"""

import sys

from qa.serve.server import main

if __name__ == "__main__":
    sys.exit(main())
