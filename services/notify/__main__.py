from services.notify.app import create_app
from shared.service import serve

serve("notify", create_app)
