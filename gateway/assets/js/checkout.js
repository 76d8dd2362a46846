// checkout
