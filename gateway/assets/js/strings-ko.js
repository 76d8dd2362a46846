// strings-ko
