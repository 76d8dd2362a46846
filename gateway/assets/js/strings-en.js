// strings-en
