"""Wire formats: protocol structures encoded and decoded as their specifications define them,
shared by the collectors (client side) and the lab (server side). No sockets, no facts: this
package imports nothing of auditor."""
