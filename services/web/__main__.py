from services.web.app import create_app
from shared.service import serve

serve("web", create_app)
