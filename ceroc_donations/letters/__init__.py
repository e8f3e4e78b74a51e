"""Thank-you letters: texts, data, archive, batches, delivery."""
