"""The manual adjustment flow: a person credits or debits a customer's wallet by hand.

Domain code shared by the dashboard and the admin (neither imports the other): ``forms`` holds the
form (amount in major units, parsed exactly; a reason; a form key that makes a double submit post
once), ``flow`` the steps form → confirmation → posting. The rules of who may post, the reason and
the approval threshold are enforced by ``wallets.services.approvals.adjustment_submit`` itself.
"""
