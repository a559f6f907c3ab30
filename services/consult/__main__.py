from services.consult.app import create_app
from shared.service import serve

serve("consult", create_app)
