"""The public's pages (no sign-in): the fund's account, how the district is doing, Open311
discovery, and the printable notices (QR codes per building, broadcasts for the board)."""
