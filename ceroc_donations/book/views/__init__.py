"""Page views of the book: dashboard, donors, contributions, expenses and funds."""
