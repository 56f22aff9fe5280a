"""NSE and Kite order rules: the product a version trades with and the broker's MIS
square-off, the exchange's price band for limit and trigger prices, market protection on
market orders and the freeze quantity above which an order is split into slices."""
