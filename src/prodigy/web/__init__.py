"""The live web page: an adapter like cli/. It asks views/ for answers and renders them; it never writes
state. server.py is the HTTP side (standard library only), hub.py the answers, static/ the page itself
(plain HTML, CSS and JavaScript: no build step, nothing fetched from the network)."""
