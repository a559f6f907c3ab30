from services.dispatch.app import create_app
from shared.service import serve

serve("dispatch", create_app)
