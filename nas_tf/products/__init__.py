"""What a search leaves to take away: the found architecture trained from scratch
(``final``), the papers' architectures trained by name (``zoo``), SavedModels (``export``)."""
