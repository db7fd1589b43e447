// Express 4 and Koa 2, installed under other names to test the older majors package.json accepts.
// Their API as keyward uses it is the one the current majors' types describe.
declare module 'express4' {
	import express from 'express'
	export default express
}
declare module 'koa2' {
	import Koa from 'koa'
	export default Koa
}
