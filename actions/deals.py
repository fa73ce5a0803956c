"""Deal products: a discount input also decides discount_type, so a percentage is never read as an amount."""

DISCOUNT_TYPES = {"discountPercentage": "percentage", "discountAmount": "amount"}


def deal_product(call):
    """Add or update a deal product: the declared request, plus discount and its discount_type."""
    request = call.wire()
    for name, discount_type in DISCOUNT_TYPES.items():
        if name in call.inputs:
            request.body.update(discount=call.inputs[name], discount_type=discount_type)
    return call.submit(request)
