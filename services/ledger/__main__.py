from services.ledger.app import create_app
from shared.service import serve

serve("ledger", create_app)
