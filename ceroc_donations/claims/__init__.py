"""Expense claims: members claim what they paid; the board approves, the treasurer pays."""
