"""Who pays and how much: virtual keys, their admission (gate), usage, spend rows, the
journal and the writer that stores them."""
