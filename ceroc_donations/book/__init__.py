"""The book: donors, funds, contributions and expenses."""
